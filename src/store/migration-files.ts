import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export interface MigrationFile {
  version: number;
  /** The file name, kept in schema_migrations. */
  name: string;
  sql: string;
}

/** A dialect's numbered migrations (`NNN_name.sql` in `dir`), in order. */
export function migrationFiles(dir: string): MigrationFile[] {
  return readdirSync(dir)
    .filter((file) => /^\d+_.+\.sql$/.test(file))
    .sort()
    .map((file) => ({
      version: Number.parseInt(file, 10),
      name: file,
      sql: readFileSync(path.join(dir, file), 'utf8'),
    }));
}
