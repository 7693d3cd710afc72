import { createContext, type ReactNode, useCallback, useContext, useEffect, useMemo, useState } from 'react';
import { createClient, MeshApiError, type MeshClient } from '../../../client/index.ts';

/** A signed-in wallet: the SIWE session token from /auth/verify and the address it belongs to. */
export interface Session {
  token: string;
  address: string;
  expiresAt: number;
}

interface SessionContextValue {
  session: Session | undefined;
  /** A client authenticated with the session, or undefined when nobody is signed in. */
  client: MeshClient | undefined;
  setSession(session: Session | undefined): void;
}

// The session lives in sessionStorage: it survives reloads of this tab, but is not shared with
// other tabs and is gone when the tab closes (the token is a bearer credential for 24 h).
const STORAGE_KEY = 'monadmesh.session';

function readStored(): Session | undefined {
  try {
    const raw = sessionStorage.getItem(STORAGE_KEY);
    if (!raw) return undefined;
    const s = JSON.parse(raw) as Partial<Session>;
    if (typeof s.token !== 'string' || typeof s.address !== 'string' || typeof s.expiresAt !== 'number') {
      return undefined;
    }
    return s.expiresAt > Date.now() ? (s as Session) : undefined;
  } catch {
    return undefined;
  }
}

const UNAUTHORIZED_EVENT = 'monadmesh:unauthorized';

/**
 * Call with any error from the API: a 401 means the session expired or was refused, so the app
 * signs out (and the wallet panel offers to sign in again) instead of failing on every request.
 */
export function reportIfUnauthorized(error: unknown): void {
  if (error instanceof MeshApiError && error.status === 401)
    window.dispatchEvent(new Event(UNAUTHORIZED_EVENT));
}

const SessionContext = createContext<SessionContextValue | undefined>(undefined);

export function SessionProvider({ children, origin }: { children: ReactNode; origin: string }) {
  const [session, setState] = useState<Session | undefined>(readStored);
  const setSession = useCallback((next: Session | undefined) => {
    if (next) sessionStorage.setItem(STORAGE_KEY, JSON.stringify(next));
    else sessionStorage.removeItem(STORAGE_KEY);
    setState(next);
  }, []);
  useEffect(() => {
    const signOut = () => setSession(undefined);
    window.addEventListener(UNAUTHORIZED_EVENT, signOut);
    return () => window.removeEventListener(UNAUTHORIZED_EVENT, signOut);
  }, [setSession]);
  const client = useMemo(
    () => (session ? createClient({ url: origin, apiKey: session.token }) : undefined),
    [session, origin],
  );
  const value = useMemo(() => ({ session, client, setSession }), [session, client, setSession]);
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionContextValue {
  const value = useContext(SessionContext);
  if (!value) throw new Error('useSession outside SessionProvider');
  return value;
}
