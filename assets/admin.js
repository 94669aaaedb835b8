// The admin pages' only script, served from the service (the pages' policy allows no inline
// script): a "back" link goes back in the browser's history when there is one, and otherwise
// follows its href.
document.addEventListener("click", function (event) {
  var link = event.target.closest && event.target.closest("a[data-back]");
  if (link && window.history.length > 1) {
    event.preventDefault();
    window.history.back();
  }
});
