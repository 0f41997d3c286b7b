export { RoutingError, type RoutingProblem } from './errors';
export { RoutingRules } from './rules';
export type { MediaPolicy, RouteDecision, RouteRequest, RouteTarget, SourceKind } from './types';
export { RoutingWatcher, type RoutingWatcherOptions } from './watcher';
