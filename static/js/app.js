// Small behaviours shared by pages. No inline scripts: the Content-Security-Policy forbids them.
document.addEventListener("submit", (event) => {
  const message = event.target.dataset.confirm;
  if (message && !window.confirm(message)) {
    event.preventDefault();
  }
});
