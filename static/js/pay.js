/* The card payment page: mounts Stripe's Payment Element and confirms the PaymentIntent. Stripe then sends the
   applicant to the form's return URL, where the server confirms the payment; an error that keeps them here
   (a declined card, a missing field) is shown above the button and announced. Loaded only on that page. */
(function () {
  "use strict";

  var form = document.getElementById("payment-form");
  if (!form) {
    return;
  }
  var button = document.getElementById("payment-submit");
  var message = document.getElementById("payment-message");
  var loading = document.getElementById("payment-loading");

  function show(text) {
    message.textContent = text;
    message.hidden = false;
  }

  if (typeof window.Stripe !== "function") {
    if (loading) {
      loading.hidden = true;
    }
    show("The secure card form could not be loaded. Please check your connection and reload this page.");
    return;
  }

  var stripe = window.Stripe(form.dataset.publishableKey);
  var elements = stripe.elements({
    clientSecret: form.dataset.clientSecret,
    appearance: {
      theme: "stripe",
      variables: {
        colorPrimary: "#1f5f5b",
        colorText: "#1f2a2e",
        colorDanger: "#a4262c",
        borderRadius: "6px",
        fontSizeBase: "17px"
      }
    }
  });
  var paymentElement = elements.create("payment");
  paymentElement.on("ready", function () {
    button.disabled = false;
    if (loading) {
      loading.hidden = true;
    }
  });
  paymentElement.mount("#payment-element");

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (button.disabled) {
      return;
    }
    button.disabled = true;
    message.hidden = true;
    stripe.confirmPayment({
      elements: elements,
      confirmParams: { return_url: form.dataset.returnUrl }
    }).then(function (result) {
      // Reached only when Stripe did not send the browser on to the return URL.
      if (result.error) {
        show(result.error.message || "Your payment did not go through. Nothing was charged; please try again.");
      }
      button.disabled = false;
    }, function () {
      show("We could not reach Stripe. Nothing was charged; please check your connection and try again.");
      button.disabled = false;
    });
  });
})();
