/** One file from a drop, with its path relative to what was dropped ("glass/g1.jpg"). */
export interface DroppedFile {
  file: File;
  relativePath: string;
}

/**
 * The entries of a drop. They must be taken synchronously inside the `drop` handler:
 * the browser empties the DataTransfer as soon as the handler returns.
 */
export function takeDroppedEntries(transfer: DataTransfer): { entries: FileSystemEntry[]; files: File[] } {
  const entries: FileSystemEntry[] = [];
  for (const item of Array.from(transfer.items)) {
    if (item.kind !== 'file') continue;
    const entry = item.webkitGetAsEntry();
    if (entry) entries.push(entry);
  }
  return { entries, files: Array.from(transfer.files) };
}

/** Walks dropped folders so class sub-folders keep their relative paths. */
export async function walkDroppedEntries(entries: FileSystemEntry[]): Promise<DroppedFile[]> {
  const out: DroppedFile[] = [];
  const seenDirs = new Set<string>();

  async function visit(entry: FileSystemEntry, prefix: string): Promise<void> {
    const relativePath = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isFile) {
      const file = await new Promise<File>((resolve, reject) =>
        (entry as FileSystemFileEntry).file(resolve, reject),
      );
      out.push({ file, relativePath });
      return;
    }
    if (!entry.isDirectory || seenDirs.has(entry.fullPath)) return;
    seenDirs.add(entry.fullPath);
    const reader = (entry as FileSystemDirectoryEntry).createReader();
    // readEntries hands out at most ~100 entries per call; keep reading until it returns none.
    for (;;) {
      const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
      if (batch.length === 0) break;
      for (const child of batch) await visit(child, relativePath);
    }
  }

  for (const entry of entries) await visit(entry, '');
  return out;
}

/** 16 random lowercase hex digits naming one upload batch. */
export function newUploadBatchId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
