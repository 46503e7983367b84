// Ephemeral preview environments: what the store keeps about each one.

export interface PreviewRecord {
  /** DNS label, unique in the project. */
  name: string;
  /** The service it copies. */
  service: string;
  /** The service name its containers and routes use (`pv-<name>`). */
  routeName: string;
  image: string;
  host: string;
  env: Record<string, string>;
  createdAt: number;
  expiresAt: number;
}

export interface PreviewStore {
  insert(p: PreviewRecord): void;
  get(name: string): PreviewRecord | null;
  /** Oldest first. */
  list(): PreviewRecord[];
  delete(name: string): void;
}
