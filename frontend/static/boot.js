// Loads the wasm app. Kept out of index.html because the Content-Security-Policy forbids inline scripts.
import init from '/app.js';

init({ module_or_path: '/app_bg.wasm' }).catch((error) => {
  console.error('chap-scheduler failed to start', error);
  const message = document.createElement('p');
  message.className = 'boot-error';
  message.setAttribute('role', 'alert');
  message.textContent = 'chap-scheduler could not start in this browser. Reload the page to try again.';
  document.body.replaceChildren(message);
});
