import { configure } from '@testing-library/react';

// The web app's tests run beside other suites on a loaded machine: Testing Library's `findBy…`
// and `waitFor` wait up to 15 s for what they look for (its default is 1 s), and still return
// as soon as it is there. Tests here assert what happens, never how fast.
configure({ asyncUtilTimeout: 15_000 });
