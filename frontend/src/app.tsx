import { QueryCache, QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { lazy, Suspense, useMemo } from 'react';
import { BrowserRouter, Link, NavLink, Route, Routes, useParams } from 'react-router';
import { WagmiProvider } from 'wagmi';
import type { AppConfig } from './api/app-config.ts';
import { reportIfUnauthorized, SessionProvider } from './api/session.tsx';
import { JobPage } from './jobs/job-page.tsx';
import { JobsPage } from './jobs/jobs-page.tsx';
import { Loading } from './ui/status.tsx';
import { createWagmiConfig } from './wallet/wagmi-config.ts';
import { WalletPanel } from './wallet/wallet-panel.tsx';

// Monaco is the heaviest part of the app: the editor page loads it only when it is shown.
const EditorPage = lazy(() => import('./editor/editor-page.tsx').then((m) => ({ default: m.EditorPage })));
const NodesPage = lazy(() => import('./nodes/nodes-page.tsx').then((m) => ({ default: m.NodesPage })));
const ContributePage = lazy(() =>
  import('./contribute/contribute-page.tsx').then((m) => ({ default: m.ContributePage })),
);

export function App({ config }: { config: AppConfig }) {
  const wagmi = useMemo(() => createWagmiConfig(config), [config]);
  const queries = useMemo(
    () =>
      new QueryClient({
        queryCache: new QueryCache({ onError: reportIfUnauthorized }),
        defaultOptions: { queries: { retry: 1 } },
      }),
    [],
  );
  return (
    <WagmiProvider config={wagmi}>
      <QueryClientProvider client={queries}>
        <SessionProvider origin={location.origin}>
          <BrowserRouter>
            <a className="skip-link" href="#main">
              Skip to content
            </a>
            <header className="topbar">
              <Link to="/" className="brand">
                MonadMesh
              </Link>
              <nav aria-label="Main">
                <NavLink to="/" end>
                  New job
                </NavLink>
                <NavLink to="/jobs">Jobs</NavLink>
                <NavLink to="/nodes">Nodes</NavLink>
                <NavLink to="/contribute">Contribute</NavLink>
              </nav>
              <WalletPanel config={config} />
            </header>
            <main id="main" className="page">
              <Suspense fallback={<Loading>Loading…</Loading>}>
                <Routes>
                  <Route
                    path="/"
                    element={<EditorPage sandboxOrigin={config.sandboxOrigin} config={config} />}
                  />
                  <Route path="/jobs" element={<JobsPage />} />
                  <Route path="/jobs/:id" element={<JobRoute config={config} />} />
                  <Route path="/nodes" element={<NodesPage />} />
                  <Route
                    path="/contribute"
                    element={<ContributePage sandboxOrigin={config.sandboxOrigin} />}
                  />
                  <Route path="*" element={<NotFound />} />
                </Routes>
              </Suspense>
            </main>
          </BrowserRouter>
        </SessionProvider>
      </QueryClientProvider>
    </WagmiProvider>
  );
}

/** A fresh JobPage per job id, so nothing (selected task, grid page) carries over between jobs. */
function JobRoute({ config }: { config: AppConfig }) {
  const { id } = useParams();
  return <JobPage key={id} config={config} />;
}

function NotFound() {
  return (
    <section>
      <h1>Page not found</h1>
      <p>
        Nothing lives at this address. <Link to="/">Write a new job</Link> or{' '}
        <Link to="/jobs">see your jobs</Link>.
      </p>
    </section>
  );
}
