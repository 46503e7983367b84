import type http from 'node:http';

// What the proxy answers before routing: ACME HTTP-01 challenges, and the redirect of plain
// HTTP to HTTPS for hosts served over HTTPS.

export const CHALLENGE_PREFIX = '/.well-known/acme-challenge/';

export interface FrontDoorOptions {
  /** The key authorization of a pending challenge token. */
  challenge?: (token: string) => string | undefined;
  /** Redirect plain HTTP for hosts that `serves` accepts, to this HTTPS port. */
  redirect?: { port: () => number; serves: (host: string | undefined) => boolean };
}

/** The https:// URL for a plain request: same host (port replaced), path and query. */
export function httpsLocation(host: string, url: string, port: number): string {
  const bare = host.startsWith('[')
    ? host.slice(0, host.indexOf(']') + 1)
    : host.replace(/:\d+$/, '');
  return `https://${bare}${port === 443 ? '' : `:${port}`}${url.startsWith('/') ? url : `/${url}`}`;
}

/** Returns a request handler that answers (and returns true) or leaves the request to routing. */
export function frontDoor(
  o: FrontDoorOptions,
): (req: http.IncomingMessage, res: http.ServerResponse) => boolean {
  return (req, res) => {
    const url = req.url ?? '/';
    if (url.startsWith(CHALLENGE_PREFIX)) {
      const token = url.slice(CHALLENGE_PREFIX.length).split('?')[0];
      const answer = o.challenge?.(token);
      // Unknown tokens go to routing: an app may answer its own challenges.
      if (answer !== undefined) {
        res.writeHead(200, {
          'content-type': 'application/octet-stream',
          'content-length': Buffer.byteLength(answer),
          'cache-control': 'no-store',
        });
        res.end(answer);
        return true;
      }
      return false;
    }
    const encrypted = (req.socket as { encrypted?: boolean }).encrypted === true;
    const host = req.headers.host;
    if (!o.redirect || encrypted || !host || !o.redirect.serves(host)) return false;
    const location = httpsLocation(host, url, o.redirect.port());
    const body = `redirecting to ${location}\n`;
    res.writeHead(308, {
      location,
      'content-type': 'text/plain',
      'content-length': Buffer.byteLength(body),
    });
    res.end(req.method === 'HEAD' ? undefined : body);
    return true;
  };
}
