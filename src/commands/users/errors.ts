/** The user stream holds no live user (never registered, or deleted). */
export class UserNotFoundError extends Error {
  constructor(readonly user_id: string) {
    super(`user ${user_id} does not exist`);
    this.name = 'UserNotFoundError';
  }
}
