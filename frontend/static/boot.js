// Loads the wasm app. Kept out of index.html because the Content-Security-Policy forbids inline scripts.
// Addresses are relative to this file, so the app loads under any public path (/chap-scheduler/…).
import init from './app.js';

init({ module_or_path: new URL('./app_bg.wasm', import.meta.url) }).catch((error) => {
  console.error('chap-scheduler failed to start', error);
  const message = document.createElement('p');
  message.className = 'boot-error';
  message.setAttribute('role', 'alert');
  message.textContent = 'chap-scheduler could not start in this browser. Reload the page to try again.';
  document.body.replaceChildren(message);
});
