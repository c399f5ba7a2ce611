// The upload form: drag and drop onto the zone, and a progress bar while the file travels.
// Without JavaScript the form still posts normally.
(() => {
  const form = document.querySelector("[data-upload]");
  if (!form) return;
  const zone = form.querySelector("[data-drop-zone]");
  const input = form.querySelector("input[type=file]");
  const progress = form.querySelector("[data-progress]");
  const button = form.querySelector("[data-submit]");

  ["dragenter", "dragover"].forEach((name) => zone.addEventListener(name, (event) => {
    event.preventDefault();
    zone.classList.add("dragover");
  }));
  ["dragleave", "drop"].forEach((name) => zone.addEventListener(name, () => zone.classList.remove("dragover")));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer.files.length) input.files = event.dataTransfer.files;
  });

  form.addEventListener("submit", (event) => {
    if (!input.files.length) return;
    event.preventDefault();
    const request = new XMLHttpRequest();
    request.open("POST", form.action || window.location.href);
    request.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) progress.value = Math.round((100 * e.loaded) / e.total);
    });
    request.addEventListener("load", () => {
      if (request.status < 400 && request.responseURL) {
        window.location.assign(request.responseURL);
      } else {
        document.open();
        document.write(request.responseText);
        document.close();
      }
    });
    request.addEventListener("error", () => form.submit());
    progress.classList.remove("d-none");
    button.disabled = true;
    request.send(new FormData(form));
  });
})();
