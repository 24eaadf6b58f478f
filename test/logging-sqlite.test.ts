import { runLoggingSuite } from './support/logging-suite.js';

runLoggingSuite('sqlite');
