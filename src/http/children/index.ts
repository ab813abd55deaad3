import { childRoutes } from './child-routes.js';
import { threatsHttp } from './threats.js';

/** The routes of every kind of child resource, one plugin each from its HTTP spec. */
export const childRoutePlugins = [childRoutes(threatsHttp)];
