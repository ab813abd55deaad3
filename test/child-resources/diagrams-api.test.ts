import { diagramsSpec } from './kinds.js';
import { describeChildResource } from './suite.js';

describeChildResource(diagramsSpec);
