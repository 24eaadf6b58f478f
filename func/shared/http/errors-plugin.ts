import type { FastifyError, FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { errorBody, JSON_TYPE } from '../error-body.js';
import type { ErrorCode } from '../errors.js';
import { translateFrameworkError } from './framework-errors.js';

/**
 * Every error the framework raises (unknown route, body over the limit, malformed multipart) leaves in the
 * contract's `{error, code}` shape. The routes themselves answer their own errors; anything that still lands
 * here without a 4xx status is a bug, logged and answered as INTERNAL. `count` lets each service record the
 * error in its own metrics.
 */
export default fp(
  async function errors(
    app: FastifyInstance,
    opts: {
      bodyLimit: number;
      count?: (status: number) => void;
      /** A service's own errors, mapped before the framework's: [status, code, message], or undefined. */
      classify?: (err: Error) => [number, ErrorCode, string] | undefined;
    },
  ) {
    app.setErrorHandler((err: FastifyError, req, reply) => {
      const status = err.statusCode ?? 500;
      let code: number;
      let name: ErrorCode;
      let message: string;
      const own = opts.classify?.(err);
      if (own) {
        [code, name, message] = own;
        req.log.warn({ code: name, err: err.message }, message);
      } else if (status >= 400 && status < 500) {
        [code, name, message] = translateFrameworkError(err, opts.bodyLimit);
        req.log.info({ code: name }, message);
      } else {
        [code, name, message] = [500, 'INTERNAL', 'The server failed unexpectedly; the error has been logged.'];
        req.log.error({ err }, 'unhandled error');
      }
      opts.count?.(code);
      return reply.code(code).type(JSON_TYPE).send(errorBody(name, message));
    });
    app.setNotFoundHandler((req, reply) =>
      reply
        .code(404)
        .type(JSON_TYPE)
        .send(errorBody('NOT_FOUND', `There is no ${req.method} ${req.url.split('?')[0]} here.`)),
    );
  },
  { name: 'errors' },
);
