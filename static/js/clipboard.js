// Copy a block's text: the Clipboard API where the page may use it (localhost, https), else
// the text is selected (and its <details> opened) for the person to copy.

export async function copyText(block) {
  const text = block.textContent;
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      /* fall through: select it */
    }
  }
  const details = block.closest("details");
  if (details) details.open = true;
  const range = document.createRange();
  range.selectNodeContents(block);
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
  block.focus();
  return false;
}
