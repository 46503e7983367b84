// Listener addresses: the proxy's "HOST:PORT" / ":PORT" / "PORT", and the API's "unix:PATH" or "HOST:PORT".

export interface HostPort {
  host: string;
  port: number;
}

export type ApiListen = { socketPath: string } | HostPort;

/** Parses "HOST:PORT", "[::1]:PORT", ":PORT" or "PORT" (port 0 = any free port); undefined when malformed. */
export function parseHostPort(value: string, defaultHost: string): HostPort | undefined {
  const m = /^(?:(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]*):)?(\d{1,5})$/.exec(value.trim());
  if (!m) return undefined;
  const port = Number(m[2]);
  if (port > 65535) return undefined;
  const rawHost = m[1] ?? '';
  const host = rawHost.startsWith('[') ? rawHost.slice(1, -1) : rawHost;
  return { host: host || defaultHost, port };
}

/** Parses "unix:PATH" or "HOST:PORT" (":PORT" and "PORT" listen on 127.0.0.1); undefined when malformed. */
export function parseApiListen(value: string): ApiListen | undefined {
  if (value.startsWith('unix:')) {
    const socketPath = value.slice('unix:'.length).trim();
    return socketPath ? { socketPath } : undefined;
  }
  return parseHostPort(value, '127.0.0.1');
}
