/**
 * How an image file becomes model input, the same way everywhere (embedding, fine-tuning,
 * prediction): EXIF orientation applied, the shorter side scaled to 224, the centre square
 * kept, RGB bytes 0–255. The 'flip' view is its mirror image.
 */
import sharp from 'sharp';
import type { EmbedView } from './embed-protocol.ts';

export const MODEL_INPUT_SIZE = 224;

export async function decodeForModel(path: string, view: EmbedView = 'center'): Promise<Buffer> {
  try {
    const image = sharp(path, { failOn: 'none' })
      .rotate()
      .resize(MODEL_INPUT_SIZE, MODEL_INPUT_SIZE, { fit: 'cover', position: 'centre' });
    return await (view === 'flip' ? image.flop() : image)
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer();
  } catch (err) {
    throw new Error(`Seedbed cannot read ${path} as an image: ${(err as Error).message}`);
  }
}

/**
 * Decodes files into one [n,224,224,3] float buffer; a file that cannot be read leaves black
 * pixels and its error, so one bad file never sinks the rest.
 */
export async function decodeBatch(paths: string[], view: EmbedView = 'center'): Promise<{ pixels: Float32Array; errors: (string | null)[] }> {
  const size = MODEL_INPUT_SIZE * MODEL_INPUT_SIZE * 3;
  const pixels = new Float32Array(paths.length * size);
  const errors: (string | null)[] = [];
  for (const [i, path] of paths.entries()) {
    try {
      pixels.set(await decodeForModel(path, view), i * size);
      errors.push(null);
    } catch (err) {
      errors.push((err as Error).message);
    }
  }
  return { pixels, errors };
}
