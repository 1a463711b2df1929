import { useEffect, useState } from "react";

type CopyButtonProps = {
  text: string;
  /** The element holding the text, selected when the clipboard is not available. */
  fallbackTarget?: () => HTMLInputElement | null;
};

/** Copies to the clipboard and says so; falls back to selecting the text for Ctrl+C. */
export function CopyButton({ text, fallbackTarget }: CopyButtonProps) {
  const [status, setStatus] = useState<"idle" | "copied" | "manual">("idle");

  useEffect(() => {
    if (status !== "copied") return;
    const timer = setTimeout(() => setStatus("idle"), 2500);
    return () => clearTimeout(timer);
  }, [status]);

  async function copy() {
    try {
      await navigator.clipboard.writeText(text);
      setStatus("copied");
    } catch {
      // Clipboard access refused (permissions, an insecure origin): select it for the person.
      const input = fallbackTarget?.();
      input?.focus();
      input?.select();
      setStatus("manual");
    }
  }

  return (
    <>
      <button type="button" className="button button--secondary" onClick={() => void copy()}>
        Copy
      </button>
      <span className="copy-status" role="status">
        {status === "copied" && "Copied to the clipboard."}
        {status === "manual" && "Selected: press Ctrl+C (⌘C on a Mac) to copy."}
      </span>
    </>
  );
}
