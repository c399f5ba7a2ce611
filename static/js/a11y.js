// Focus goes to the first error a page shows (a refused form's message or an invalid field), so
// keyboard and screen reader users land on it instead of at the top of the page.
(() => {
  const error = document.querySelector(
    'main .alert-danger[role="alert"]:not(.d-none), main [aria-invalid="true"]'
  );
  if (!error) return;
  if (!error.matches("input, select, textarea, button, a[href], [tabindex]")) error.tabIndex = -1;
  error.focus();
})();
