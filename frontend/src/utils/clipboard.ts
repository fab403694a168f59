// Copying to the clipboard, in one place: the Clipboard API where the page may use
// it, else a selection copy (plain http, denied permission).

export async function copyText(text: string): Promise<void> {
  try {
    await navigator.clipboard.writeText(text)
  } catch {
    const ta = document.createElement('textarea')
    ta.value = text
    document.body.appendChild(ta)
    ta.select()
    try {
      document.execCommand('copy')
    } catch {
      /* nothing more to try */
    }
    ta.remove()
  }
}
