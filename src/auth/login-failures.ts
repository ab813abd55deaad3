import { v7 as uuidv7 } from 'uuid';

/**
 * A failed login has no user to attach to, so each one gets a stream of its own: no contention
 * between attackers and real users, and auditors find them all by event type.
 */
export const loginFailureStreamId = (): string => `login-failure-${uuidv7()}`;
export const LOGIN_FAILURE_STREAM_TYPE = 'login_attempt';
