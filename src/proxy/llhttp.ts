/**
 * node's own HTTP/1.1 parser (llhttp, through `_http_common`'s HTTPParser),
 * typed for the raw data path: the parser http.Server and http.ClientRequest
 * use, without IncomingMessage, ServerResponse, ClientRequest or streams.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const common = require('_http_common') as {
  HTTPParser: ParserClass;
  methods: string[];
};

export interface Parser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  /** Bytes parsed (for an upgrade: up to the end of its head), or the parse error. */
  execute(data: Buffer): number | ParseError;
  /** End of input: completes a message whose body ends with the connection. */
  finish(): number | ParseError | undefined;
  close(): void;
  [k: number]: unknown;
}

export interface ParseError extends Error {
  code: string;
  bytesParsed?: number;
}

interface ParserClass {
  new (): Parser;
  REQUEST: number;
  RESPONSE: number;
  kOnMessageBegin: number;
  kOnHeaders: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
}

const P = common.HTTPParser;
export const METHODS = common.methods;

/** What a parser reports, one message after the other. */
export interface ParserEvents {
  messageBegin(): void;
  /** A complete head; `headers` is the raw [name, value, ...] list. Returns 1 to skip a body (HEAD). */
  headersComplete(
    versionMajor: number,
    versionMinor: number,
    headers: string[],
    method: number | undefined,
    url: string,
    statusCode: number | undefined,
    statusMessage: string | undefined,
    upgrade: boolean,
    keepAlive: boolean,
  ): number;
  body(chunk: Buffer): void;
  messageComplete(): void;
}

/**
 * A parser bound to `events`. Heads longer than the parser's field buffer
 * arrive in parts (kOnHeaders) before kOnHeadersComplete: they are joined
 * here as node's http does.
 */
export function createParser(
  kind: 'request' | 'response',
  maxHeaderSize: number,
  events: ParserEvents,
): Parser {
  const parser = new P();
  parser.initialize(kind === 'request' ? P.REQUEST : P.RESPONSE, {}, maxHeaderSize, 0);
  let partHeaders: string[] | null = null;
  let partUrl = '';
  parser[P.kOnMessageBegin] = () => events.messageBegin();
  parser[P.kOnHeaders] = (headers: string[], url: string) => {
    partHeaders = partHeaders ? partHeaders.concat(headers) : headers;
    partUrl += url;
  };
  parser[P.kOnHeadersComplete] = (
    major: number,
    minor: number,
    headers: string[] | undefined,
    method: number | undefined,
    url: string | undefined,
    status: number | undefined,
    message: string | undefined,
    upgrade: boolean,
    keepAlive: boolean,
  ) => {
    if (partHeaders) {
      headers = headers ? partHeaders.concat(headers) : partHeaders;
      url = partUrl + (url ?? '');
      partHeaders = null;
      partUrl = '';
    }
    return events.headersComplete(
      major,
      minor,
      headers ?? [],
      method,
      url ?? '',
      status,
      message,
      upgrade,
      keepAlive,
    );
  };
  parser[P.kOnBody] = (chunk: Buffer) => events.body(chunk);
  parser[P.kOnMessageComplete] = () => events.messageComplete();
  return parser;
}
