import { runContractSuite } from './support/contract-suite.js';

runContractSuite('server');
