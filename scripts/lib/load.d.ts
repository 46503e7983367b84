export interface Sample {
  started: number;
  ended: number;
  status: number;
  release: number;
  version: string | null;
  slow: boolean;
}
export interface LoadStats {
  ok: number;
  failed: number;
  failures: string[];
  slowOk: number;
  slowFailed: number;
  samples: Sample[];
}
export interface LoadOptions {
  port: number;
  host?: string;
  hostHeader?: string;
  clients?: number;
  slowClients?: number;
  slowPath?: string;
  path?: string;
}
export function startLoad(o: LoadOptions): { stats: LoadStats; stop(): Promise<LoadStats> };
/** The same load from a lower-priority child process; stop() returns its stats. */
export function startLoadProcess(o: LoadOptions): {
  ready: Promise<unknown>;
  stop(): Promise<LoadStats>;
};
