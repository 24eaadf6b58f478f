import t from 'tap';
import { PG_ADMIN_URL, postgresReachable, runLoggingSuite } from './support/logging-suite.js';

// CI starts PostgreSQL (.ci/run); on a machine without one, the suite says so instead of failing.
if ((await postgresReachable()) || process.env.CI) runLoggingSuite('postgres');
else t.skip(`PostgreSQL is not reachable at ${PG_ADMIN_URL}`, () => undefined);
