// The previews part of the SQLite store: the `previews` table (migration 3 in sqlite.ts).

import type { Database as DB, Statement } from 'better-sqlite3';
import type { PreviewRecord, PreviewStore } from '../ports/previews';

export const PREVIEWS_MIGRATION = `
  CREATE TABLE previews (
    name       TEXT    PRIMARY KEY,
    service    TEXT    NOT NULL,
    route_name TEXT    NOT NULL,
    image      TEXT    NOT NULL,
    host       TEXT    NOT NULL,
    env        TEXT    NOT NULL, -- JSON object
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
  ) WITHOUT ROWID;
`;

interface PreviewRow {
  name: string;
  service: string;
  route_name: string;
  image: string;
  host: string;
  env: string;
  created_at: number;
  expires_at: number;
}

const fromRow = (r: PreviewRow): PreviewRecord => ({
  name: r.name,
  service: r.service,
  routeName: r.route_name,
  image: r.image,
  host: r.host,
  env: JSON.parse(r.env) as Record<string, string>,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
});

export class SqlitePreviewStore implements PreviewStore {
  private readonly stInsert: Statement<[PreviewRow]>;
  private readonly stGet: Statement<[string], PreviewRow>;
  private readonly stList: Statement<[], PreviewRow>;
  private readonly stDelete: Statement<[string]>;

  constructor(db: DB) {
    this.stInsert = db.prepare(
      `INSERT INTO previews (name, service, route_name, image, host, env, created_at, expires_at)
       VALUES (@name, @service, @route_name, @image, @host, @env, @created_at, @expires_at)`,
    );
    this.stGet = db.prepare('SELECT * FROM previews WHERE name = ?');
    this.stList = db.prepare('SELECT * FROM previews ORDER BY created_at, name');
    this.stDelete = db.prepare('DELETE FROM previews WHERE name = ?');
  }

  insert(p: PreviewRecord): void {
    this.stInsert.run({
      name: p.name,
      service: p.service,
      route_name: p.routeName,
      image: p.image,
      host: p.host,
      env: JSON.stringify(p.env),
      created_at: p.createdAt,
      expires_at: p.expiresAt,
    });
  }

  get(name: string): PreviewRecord | null {
    const r = this.stGet.get(name);
    return r ? fromRow(r) : null;
  }

  list(): PreviewRecord[] {
    return this.stList.all().map(fromRow);
  }

  delete(name: string): void {
    this.stDelete.run(name);
  }
}
