// Solves the sign-in page's proof-of-work challenge in the background (consent/login_guard.py): find a decimal
// counter such that SHA-256("<token>:<counter>") starts with `bits` zero bits. The server asks for it only when
// many sign-ins failed from this network or for this username, and then says so in data-challenge-required;
// otherwise the form is sent at once. Solving starts when the page loads, so it is usually done before "Sign in".
(function () {
  "use strict";
  var form = document.querySelector("form[data-login-challenge]");
  if (!form || form.getAttribute("data-challenge-required") !== "1") return;
  if (!window.crypto || !window.crypto.subtle || !window.TextEncoder) return;
  var token = form.querySelector("input[name=challenge]");
  var output = form.querySelector("input[name=challenge_solution]");
  var bits = parseInt(form.getAttribute("data-challenge-bits"), 10) || 0;
  var encoder = new TextEncoder();

  function zeroBits(bytes) {
    var count = 0;
    for (var i = 0; i < bytes.length; i++) {
      if (bytes[i] === 0) { count += 8; continue; }
      var b = bytes[i];
      while ((b & 0x80) === 0) { count += 1; b <<= 1; }
      return count;
    }
    return count;
  }

  function search(start) {
    var batch = [];
    for (var n = start; n < start + 256; n++) {
      batch.push(window.crypto.subtle.digest("SHA-256", encoder.encode(token.value + ":" + n)));
    }
    return Promise.all(batch).then(function (digests) {
      for (var i = 0; i < digests.length; i++) {
        if (zeroBits(new Uint8Array(digests[i])) >= bits) return String(start + i);
      }
      return search(start + 256);
    });
  }

  var solved = search(0).then(function (solution) { output.value = solution; });
  var submitting = false;
  form.addEventListener("submit", function (event) {
    if (output.value || submitting) return;
    event.preventDefault();
    submitting = true;
    var button = form.querySelector("[type=submit]");
    if (button) button.disabled = true;
    solved.then(function () { form.submit(); });
  });
})();
