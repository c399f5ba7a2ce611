// The message editor: column chips that insert {{ column }} at the cursor, a live character
// count, and saved messages that fill the editor.
(() => {
  const form = document.querySelector("[data-compose]");
  if (!form) return;
  const editor = form.querySelector("#template");
  const listSelect = form.querySelector("[data-columns-source]");
  const chips = form.querySelector("[data-chips]");
  const counter = form.querySelector("[data-char-count]");
  const maxLength = Number(form.dataset.maxLength);

  function insert(text) {
    const start = editor.selectionStart;
    const end = editor.selectionEnd;
    editor.setRangeText(text, start, end, "end");
    editor.focus();
    editor.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function showChips() {
    const option = listSelect.selectedOptions[0];
    const columns = option ? JSON.parse(option.dataset.columns) : [];
    chips.replaceChildren(...columns.map((column) => {
      const chip = document.createElement("button");
      chip.type = "button";
      chip.className = "btn btn-outline-secondary btn-sm";
      chip.textContent = column;
      chip.dataset.column = column;
      chip.addEventListener("click", () => insert(`{{ ${column} }}`));
      return chip;
    }));
  }

  function count() {
    // Count code points, as the server does, so an emoji is one character.
    const length = Array.from(editor.value).length;
    counter.textContent = `${length} / ${maxLength}`;
    counter.classList.toggle("text-danger", length > maxLength);
  }

  form.querySelectorAll("[data-insert-template]").forEach((button) => {
    button.addEventListener("click", () => {
      editor.value = button.dataset.insertTemplate;
      editor.dispatchEvent(new Event("input", { bubbles: true }));
    });
  });
  listSelect.addEventListener("change", () => {
    showChips();
    editor.dispatchEvent(new Event("input", { bubbles: true }));
  });
  editor.addEventListener("input", count);
  showChips();
  count();
})();
