// Approve needs at least one ticked account (the server checks again). Without JavaScript the button stays
// enabled and the server's answer explains.
(function () {
  var form = document.getElementById("consent-form");
  var approve = form.querySelector("[data-needs-account]");
  function update() { approve.disabled = !form.querySelector("input[name=accounts]:checked"); }
  form.addEventListener("change", update);
  update();
})();
