// The upload form: drag and drop onto the zone, and a progress bar while the file travels.
// A refused file is explained above the form, which keeps the chosen file. Without JavaScript
// the form still posts normally and the page says the same.
(() => {
  const form = document.querySelector("[data-upload]");
  if (!form) return;
  const zone = form.querySelector("[data-drop-zone]");
  const input = form.querySelector("input[type=file]");
  const progress = form.querySelector("[data-progress]");
  const button = form.querySelector("[data-submit]");
  const errorBox = form.querySelector("[data-upload-error]");

  ["dragenter", "dragover"].forEach((name) => zone.addEventListener(name, (event) => {
    event.preventDefault();
    zone.classList.add("dragover");
  }));
  ["dragleave", "drop"].forEach((name) => zone.addEventListener(name, () => zone.classList.remove("dragover")));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer.files.length) input.files = event.dataTransfer.files;
  });

  // The server's words for the refusal: the upload page's own message (it names the file), or
  // an error page's (too large, say), which gets the file's name in front.
  function showRefusal(html) {
    const answer = new DOMParser().parseFromString(html, "text/html");
    const explained = answer.querySelector("[data-upload-error]");
    if (explained && explained.textContent.trim()) {
      errorBox.replaceChildren(...explained.childNodes);
    } else {
      const name = document.createElement("strong");
      name.textContent = input.files[0].name;
      const message = answer.querySelector("[data-error-message]");
      errorBox.replaceChildren(name, ": ", message ? message.textContent : answer.title);
    }
    errorBox.classList.remove("d-none");
    input.setAttribute("aria-invalid", "true");
    progress.classList.add("d-none");
    button.disabled = false;
    errorBox.focus();
  }

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
        showRefusal(request.responseText);
      }
    });
    request.addEventListener("error", () => form.submit());
    progress.value = 0;
    progress.classList.remove("d-none");
    button.disabled = true;
    request.send(new FormData(form));
  });
})();
