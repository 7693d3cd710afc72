import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { loadAppConfig } from './api/app-config.ts';
import { App } from './app.tsx';
import { describeError } from './ui/status.tsx';
import './styles.css';

// The chain the wallet must use comes from the API, so the app starts once /api/v1/config answers.
const root = createRoot(document.getElementById('root')!);
loadAppConfig().then(
  (config) =>
    root.render(
      <StrictMode>
        <App config={config} />
      </StrictMode>,
    ),
  (error: unknown) =>
    root.render(
      <main className="page">
        <div className="status status-error" role="alert">
          <strong>MonadMesh cannot start</strong>
          <p>{describeError(error)}. Is the API running? Reload to try again.</p>
        </div>
      </main>,
    ),
);
