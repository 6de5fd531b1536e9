// Keyboard use of the dashboard: the sections redraw their lists as the session changes (a task
// row, a fault's Remove button, an upload's Move picker); a control redrawn under the keyboard's
// focus hands the focus to its redrawn equal, so a keyboard user is not sent back to the page's top.
"use strict";

(() => {
  let focused = null;  // {node, selector}: the control last focused, and how to find its equal again

  function selectorOf(node) {
    if (node.id) return `#${CSS.escape(node.id)}`;
    // a row's label says its status, which a redraw may change: its task id does not
    for (const name of ["data-task", "aria-label"]) {
      const value = node.getAttribute(name);
      if (value) return `${node.localName}[${name}="${CSS.escape(value)}"]`;
    }
    return null;
  }

  document.addEventListener("focusin", (event) => {
    focused = { node: event.target, selector: selectorOf(event.target) };
  });

  new MutationObserver(() => {
    if (!focused || focused.node.isConnected || !focused.selector) return;
    if (document.activeElement && document.activeElement !== document.body) return;  // focus went on elsewhere
    const again = document.querySelector(focused.selector);
    if (again) again.focus({ preventScroll: true });
  }).observe(document.body, { childList: true, subtree: true });
})();
