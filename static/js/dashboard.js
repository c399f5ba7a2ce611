// The dashboard's charts of messages per day and per hour, and the switch between them.
(() => {
  if (!window.Chart) return;
  document.querySelectorAll("canvas.activity").forEach((canvas) => {
    const data = canvas.dataset;
    new Chart(canvas, {
      type: "bar",
      data: {
        labels: JSON.parse(data.labels),
        datasets: [
          { label: data.sentLabel, data: JSON.parse(data.sent), backgroundColor: "#198754" },
          { label: data.failedLabel, data: JSON.parse(data.failed), backgroundColor: "#dc3545" },
        ],
      },
      options: { animation: false, scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } },
    });
  });
  document.querySelectorAll("[data-chart]").forEach((button) => {
    button.addEventListener("click", () => {
      document.querySelectorAll("[data-chart]").forEach((other) => {
        const chosen = other === button;
        other.classList.toggle("active", chosen);
        other.setAttribute("aria-pressed", String(chosen));
        document.getElementById(`activity-${other.dataset.chart}`).classList.toggle("d-none", !chosen);
      });
    });
  });
})();
