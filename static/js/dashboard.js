// The dashboard's chart of messages per day.
(() => {
  const canvas = document.getElementById("activity");
  if (!canvas || !window.Chart) return;
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
})();
