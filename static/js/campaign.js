// The campaign page: a doughnut of outcomes that follows the live progress htmx swaps in.
(() => {
  const canvas = document.getElementById("outcomes");
  if (!canvas || !window.Chart) return;
  const colors = ["#198754", "#dc3545", "#ffc107", "#adb5bd", "#0d6efd"];
  const counts = () => JSON.parse(document.getElementById("progress").dataset.counts);
  const chart = new Chart(canvas, {
    type: "doughnut",
    data: {
      labels: JSON.parse(canvas.dataset.labels),
      datasets: [{ data: counts(), backgroundColor: colors }],
    },
    options: { animation: false, plugins: { legend: { position: "bottom" } } },
  });
  document.body.addEventListener("htmx:afterSwap", () => {
    chart.data.datasets[0].data = counts();
    chart.update();
  });
})();
