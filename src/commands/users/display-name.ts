/**
 * How a user is named wherever the API shows one (owners, authorization entries, /me, the audit
 * trail's actor): their name, or their email when the name is empty or blank (a provider may give none).
 */
export const displayNameOf = (name: string | null | undefined, email: string): string => name?.trim() || email;
