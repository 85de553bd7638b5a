// Progressive enhancement only: every form works without this file (and without htmx).
// Loaded from 'self' (the CSP allows no inline script).
(function () {
  'use strict';

  function flash(text) {
    var region = document.getElementById('flash');
    if (!region) return;
    region.textContent = '';
    var box = document.createElement('div');
    box.className = 'notice notice-error';
    box.setAttribute('role', 'alert');
    box.textContent = text;
    region.appendChild(box);
  }

  // A server error (5xx) is not swapped into the page: say so instead of failing silently.
  document.addEventListener('htmx:responseError', function () {
    flash('The request could not be completed. Reload the page to see the current state, then try again.');
  });
  document.addEventListener('htmx:sendError', function () {
    flash('The server could not be reached. Check the connection and try again.');
  });

  // After a swap, move focus to the new status message so screen readers announce the outcome.
  document.addEventListener('htmx:afterSettle', function (event) {
    var target = event.detail && event.detail.elt;
    var root = target && target.isConnected ? target : document;
    var message = root.querySelector ? root.querySelector('[data-focus-after-swap]') : null;
    if (message) message.focus();
  });
})();
