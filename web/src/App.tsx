/** The app's frame (header, navigation, the page, the player) and its routes. */
import { lazy, Suspense } from "react";
import { BrowserRouter, Link, NavLink, Route, Routes, useLocation } from "react-router";

import { AuthProvider, useAuth } from "./auth";
import { ErrorBoundary } from "./components/ui";
import { PlayerBar } from "./player/PlayerBar";
import { PlayerProvider } from "./player/PlayerContext";
import Ask from "./pages/Ask";

const Search = lazy(() => import("./pages/Search"));
const Episode = lazy(() => import("./pages/Episode"));
const Listen = lazy(() => import("./pages/Listen"));
const Playlists = lazy(() => import("./pages/Playlists"));
const PlaylistPage = lazy(() => import("./pages/PlaylistPage"));
const Manage = lazy(() => import("./pages/Manage"));
const Podcast = lazy(() => import("./pages/Podcast"));
const Account = lazy(() => import("./pages/Account"));
const SignIn = lazy(() => import("./pages/SignIn"));

function Nav() {
  const { user, ready } = useAuth();
  return (
    <nav aria-label="Main">
      <ul>
        <li><NavLink to="/" end>Ask</NavLink></li>
        <li><NavLink to="/search">Search</NavLink></li>
        <li><NavLink to="/playlists">Playlists</NavLink></li>
        <li><NavLink to="/manage">Manage</NavLink></li>
        {!ready ? null : user ? (
          <li><NavLink to="/account">Account</NavLink></li>
        ) : (
          <>
            <li><NavLink to="/signin">Sign in</NavLink></li>
            <li><NavLink to="/signup">Sign up</NavLink></li>
          </>
        )}
      </ul>
    </nav>
  );
}

function NotFound() {
  return (
    <>
      <h1>Page not found</h1>
      <p>
        There is no page at this address. <Link to="/">Go to the start page</Link>.
      </p>
    </>
  );
}

function Shell() {
  const location = useLocation();
  return (
    <>
      <a className="skip" href="#main">Skip to content</a>
      <header>
        <Link to="/" className="brand">Tell Me More</Link>
        <Nav />
      </header>
      <main id="main" tabIndex={-1}>
        <ErrorBoundary key={location.pathname}>
          <Suspense fallback={<p role="status">Loading…</p>}>
            <Routes>
              <Route path="/" element={<Ask />} />
              <Route path="/search" element={<Search />} />
              <Route path="/episodes/:episodeId" element={<Episode />} />
              <Route path="/listen" element={<Listen />} />
              <Route path="/playlists" element={<Playlists />} />
              <Route path="/playlists/:playlistId" element={<PlaylistPage />} />
              <Route path="/shared/playlists/:shareToken" element={<PlaylistPage />} />
              <Route path="/manage" element={<Manage />} />
              <Route path="/podcasts/:podcastId" element={<Podcast />} />
              <Route path="/account" element={<Account />} />
              <Route path="/signin" element={<SignIn mode="signin" />} />
              <Route path="/signup" element={<SignIn mode="signup" />} />
              <Route path="*" element={<NotFound />} />
            </Routes>
          </Suspense>
        </ErrorBoundary>
      </main>
      <ErrorBoundary>
        <PlayerBar />
      </ErrorBoundary>
    </>
  );
}

export default function App() {
  return (
    <ErrorBoundary>
      <BrowserRouter>
        <AuthProvider>
          <PlayerProvider>
            <Shell />
          </PlayerProvider>
        </AuthProvider>
      </BrowserRouter>
    </ErrorBoundary>
  );
}
