import { assetsHttp } from './assets.js';
import type { ChildHttp } from './child-http.js';
import { childRoutes } from './child-routes.js';
import { diagramsHttp } from './diagrams.js';
import { documentsHttp } from './documents.js';
import { notesHttp } from './notes.js';
import { repositoriesHttp } from './repositories.js';
import { threatsHttp } from './threats.js';

/** Every kind of child resource as HTTP sees it: its routes and its part of the full ThreatModel body come from here. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each spec has its own field type
export const childHttpSpecs: ChildHttp<any>[] = [threatsHttp, diagramsHttp, documentsHttp, repositoriesHttp, notesHttp, assetsHttp];

/** The routes of every kind of child resource, one plugin each from its HTTP spec. */
export const childRoutePlugins = childHttpSpecs.map((spec) => childRoutes(spec));
