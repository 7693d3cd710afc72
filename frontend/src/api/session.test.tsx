import { act, cleanup, render, screen } from '@testing-library/react';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { MeshApiError } from '../../../client/index.ts';
import { reportIfUnauthorized, SessionProvider, useSession } from './session.tsx';

afterEach(cleanup);
beforeEach(() => sessionStorage.clear());

function Probe() {
  const { session, client, setSession } = useSession();
  return (
    <div>
      <span data-testid="who">{session ? `${session.address}:${client ? 'client' : 'none'}` : 'nobody'}</span>
      <button
        type="button"
        onClick={() => setSession({ token: 't', address: '0xabc', expiresAt: Date.now() + 60_000 })}
      >
        in
      </button>
    </div>
  );
}

test('default: signing in stores the session for this tab and makes a client', () => {
  render(
    <SessionProvider origin="http://mesh.test">
      <Probe />
    </SessionProvider>,
  );
  expect(screen.getByTestId('who').textContent).toBe('nobody');
  act(() => screen.getByRole('button', { name: 'in' }).click());
  expect(screen.getByTestId('who').textContent).toBe('0xabc:client');
  expect(JSON.parse(sessionStorage.getItem('monadmesh.session')!)).toMatchObject({ token: 't' });
});

test('behavior: an expired stored session is ignored', () => {
  sessionStorage.setItem(
    'monadmesh.session',
    JSON.stringify({ token: 't', address: '0xabc', expiresAt: Date.now() - 1 }),
  );
  render(
    <SessionProvider origin="http://mesh.test">
      <Probe />
    </SessionProvider>,
  );
  expect(screen.getByTestId('who').textContent).toBe('nobody');
});

test('behavior: a 401 from the API signs out; other errors do not', () => {
  sessionStorage.setItem(
    'monadmesh.session',
    JSON.stringify({ token: 't', address: '0xabc', expiresAt: Date.now() + 60_000 }),
  );
  render(
    <SessionProvider origin="http://mesh.test">
      <Probe />
    </SessionProvider>,
  );
  act(() => reportIfUnauthorized(new MeshApiError('forbidden', 403, 'not yours')));
  expect(screen.getByTestId('who').textContent).toBe('0xabc:client');
  act(() => reportIfUnauthorized(new MeshApiError('unauthorized', 401, 'expired')));
  expect(screen.getByTestId('who').textContent).toBe('nobody');
  expect(sessionStorage.getItem('monadmesh.session')).toBeNull();
});
