import crypto from 'node:crypto';
import fs from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import nodePath from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { uploadBatchId } from '../../../shared/contract/index.ts';
import type { Core } from '../../core/core.ts';
import { uploadDir } from '../../core/data/import-handlers.ts';
import { containedPath, safeSegments } from '../request-path.ts';
import { sendError, sendJson } from './responses.ts';

export const MAX_UPLOAD_BYTES = 512 * 1024 * 1024;
const MAX_RELATIVE_PATH = 4096;

class TooLarge extends Error {}

/**
 * `POST /upload/<batchId>/<relative path>`: stores one dropped file in the project's upload
 * folder for that batch, keeping its relative path so class folders still label it. The
 * bytes land in a temporary name first, so an interrupted upload never looks like an image.
 */
export async function receiveUpload(
  req: IncomingMessage,
  res: ServerResponse,
  core: Core,
  rest: string,
): Promise<void> {
  const slash = rest.indexOf('/');
  const batchId = slash === -1 ? rest : rest.slice(0, slash);
  const rawRelative = slash === -1 ? '' : rest.slice(slash + 1);
  if (!uploadBatchId.safeParse(batchId).success) {
    return refuse(req, res, 400, 'invalid_input', 'The upload batch id is not valid.');
  }
  if (!rawRelative || rawRelative.length > MAX_RELATIVE_PATH) {
    return refuse(req, res, 400, 'invalid_input', 'The upload names no file.');
  }
  const segments = safeSegments(rawRelative);
  if (!segments) {
    return refuse(req, res, 400, 'invalid_input', 'The file name of an upload may not leave its folder (no "..", no absolute paths).');
  }
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > MAX_UPLOAD_BYTES) {
    return refuse(req, res, 413, 'invalid_input', `${segments.join('/')} is larger than 512 MB; Seedbed takes images up to that size.`);
  }
  const store = core.store();
  if (!store) return refuse(req, res, 409, 'no_project', 'Open or create a project before dropping files on the window.');

  const root = uploadDir(store, batchId);
  const target = containedPath(root, segments);
  if (!target) return refuse(req, res, 400, 'invalid_input', 'The file name of an upload may not leave its folder.');
  const partial = `${target}.${crypto.randomBytes(6).toString('hex')}.part`;
  try {
    await fs.promises.mkdir(nodePath.dirname(target), { recursive: true });
    let received = 0;
    const limit = new Transform({
      transform(chunk: Buffer, _enc, done) {
        received += chunk.length;
        if (received > MAX_UPLOAD_BYTES) done(new TooLarge());
        else done(null, chunk);
      },
    });
    await pipeline(req, limit, fs.createWriteStream(partial, { flags: 'wx' }));
    await fs.promises.rename(partial, target);
    sendJson(res, 200, { ok: true, bytes: received });
  } catch (err) {
    await fs.promises.rm(partial, { force: true }).catch(() => {});
    if (err instanceof TooLarge) {
      return refuse(req, res, 413, 'invalid_input', `${segments.join('/')} is larger than 512 MB; Seedbed takes images up to that size.`);
    }
    if (req.destroyed || res.destroyed) return;
    console.error(err);
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === 'ENOSPC' ? 'the disk is full' : code === 'EACCES' ? 'Seedbed may not write there' : 'the file could not be written';
    sendError(res, 500, 'io_error', `Seedbed could not store ${segments.join('/')} beside the project: ${reason}.`);
  }
}

/**
 * Answers before the body is read. The connection is closed afterwards, so a client still
 * sending a large body is not left waiting for it to be drained.
 */
function refuse(req: IncomingMessage, res: ServerResponse, status: number, code: Parameters<typeof sendError>[2], message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (!req.complete) res.setHeader('Connection', 'close');
  sendError(res, status, code, message);
  req.resume();
}
