/* Skip rules on one page: a question that depends on an answer on the same page is hidden
   until that answer is chosen. The server applies the same rule when the page is sent, so
   without this script the question simply stays visible with its note. */
(function () {
  "use strict";
  function chosen(form, name) {
    var values = [];
    form.querySelectorAll("input[name='" + name + "']").forEach(function (input) {
      if (input.checked) { values.push(input.value); }
    });
    return values;
  }
  function update(form) {
    form.querySelectorAll("[data-show-if]").forEach(function (block) {
      var wanted = block.getAttribute("data-show-values").split(" ");
      var show = chosen(form, block.getAttribute("data-show-if")).some(function (value) {
        return wanted.indexOf(value) !== -1;
      });
      block.hidden = !show;
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form").forEach(function (form) {
      if (!form.querySelector("[data-show-if]")) { return; }
      form.addEventListener("change", function () { update(form); });
      update(form);
    });
  });
})();
