"use strict";
(function () {
  const log = document.getElementById("log");
  const form = document.getElementById("form");
  const input = document.getElementById("text");
  const status = document.getElementById("status");
  const fileInput = document.getElementById("file");
  const langButton = document.getElementById("lang");
  const MAX_BYTES = 20 * 1024 * 1024;
  const ACCEPT = "image/*,.jpg,.jpeg,.png,.gif,.webp,.pdf,.docx,.xlsx,.txt";
  // The page's own words; what the bot says comes from the server in the customer's language.
  const WORDS = {
    zh: {
      title: "客户服务", other: "English", send: "发送", placeholder: "请输入…", attach: "发送照片或文件",
      hint: "点按钮或回复数字选择；也可以直接写下您的问题。# 再看一遍 · * 返回上一步 · 0 人工客服",
      online: "在线", connecting: "连接中…", reconnecting: "重新连接中…", staff: "人工客服",
      tooLarge: "文件太大（最大 20 MB），请压缩后再发，或改发截图。", uploading: "正在上传…",
      failed: "上传没有成功，请重试。", command: "中文",
    },
    en: {
      title: "Customer service", other: "中文", send: "Send", placeholder: "Type here…", attach: "Send a photo or file",
      hint: "Tap a button or reply with its number, or just write your problem. # show again · * back · 0 a person",
      online: "online", connecting: "connecting…", reconnecting: "reconnecting…", staff: "Customer service staff",
      tooLarge: "That file is too large (20 MB at most); please send a smaller one or a screenshot.",
      uploading: "Uploading…", failed: "The upload did not work; please try again.", command: "English",
    },
  };
  const stored = localStorage.getItem("tousu-lang");
  let lang = stored || ((navigator.language || "zh").toLowerCase().startsWith("en") ? "en" : "zh");
  let socket = null;
  let retry = 500;
  const unsent = [];

  function t(key) { return WORDS[lang][key]; }

  function applyLanguage() {
    document.documentElement.lang = lang;
    document.getElementById("title").textContent = t("title");
    document.getElementById("hint").textContent = t("hint");
    document.getElementById("send").textContent = t("send");
    document.getElementById("attach-text").textContent = t("attach");
    document.getElementById("attach-label").title = t("attach");
    input.placeholder = t("placeholder");
    input.setAttribute("aria-label", t("placeholder"));
    langButton.textContent = t("other");
    langButton.lang = lang === "zh" ? "en" : "zh";
    if (socket && socket.readyState === WebSocket.OPEN) status.textContent = t("online");
  }

  function newId() {
    const bytes = new Uint8Array(8);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // Only the newest bot message's buttons are live: anything said since makes older ones stale.
  function disableOldButtons() {
    log.querySelectorAll(".buttons button").forEach((b) => { b.disabled = true; });
  }

  function show(item) {
    const from = item.from || "bot";
    if (from !== "system") disableOldButtons();
    const li = document.createElement("li");
    li.className = "msg " + from;
    if (from === "agent") {
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = t("staff");
      li.appendChild(who);
    }
    const body = document.createElement("span");
    body.className = "text";
    body.textContent = item.text || "";  // always text, never HTML
    li.appendChild(body);
    if (item.buttons && item.buttons.length) {
      const row = document.createElement("div");
      row.className = "buttons";
      item.buttons.forEach((b) => {
        const btn = document.createElement("button");
        btn.type = "button";
        btn.textContent = b.label;
        btn.addEventListener("click", () => send(b.label, b.payload));
        row.appendChild(btn);
      });
      li.appendChild(row);
    }
    (item.files || []).forEach((f) => {
      const link = document.createElement("a");
      link.className = "file";
      link.href = f.url;
      link.textContent = "📎 " + f.name;
      link.setAttribute("download", f.name);
      li.appendChild(document.createElement("br"));
      li.appendChild(link);
    });
    log.appendChild(li);
    log.scrollTop = log.scrollHeight;
  }

  function post(msg) {
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify(msg));
    } else {
      unsent.push(msg);
    }
  }

  function send(text, payload) {
    show({ from: "customer", text: text });
    post({ id: newId(), text: text, payload: payload || null, lang: lang });
  }

  async function upload(file) {
    if (file.size > MAX_BYTES) { show({ from: "system", text: t("tooLarge") }); return; }
    show({ from: "customer", text: "📎 " + file.name });
    const data = new FormData();
    data.append("file", file, file.name);
    data.append("id", newId());
    data.append("lang", lang);
    try {
      const res = await fetch("/chat/upload", { method: "POST", body: data, credentials: "same-origin" });
      if (!res.ok) {
        const body = await res.json().catch(() => ({}));
        show({ from: "system", text: body.text || t("failed") });
      }
    } catch (e) {
      show({ from: "system", text: t("failed") });
    }
  }

  async function loadHistory() {
    try {
      const res = await fetch("/chat/history", { credentials: "same-origin" });
      const data = await res.json();
      log.textContent = "";
      data.messages.forEach(show);
    } catch (e) { /* the live socket still works */ }
  }

  function connect() {
    const proto = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(proto + location.host + "/chat/ws");
    socket.onopen = async () => {
      status.textContent = t("online");
      status.className = "status ok";
      retry = 500;
      await loadHistory();
      while (unsent.length) socket.send(JSON.stringify(unsent.shift()));
      // a first visit asks for the greeting; the history never shows this request
      if (!log.children.length) socket.send(JSON.stringify({ id: newId(), text: "/start", payload: null, lang: lang }));
    };
    socket.onmessage = (ev) => {
      const item = JSON.parse(ev.data);
      if (item.error) { show({ from: "system", text: item.text || (item.error === "too_long" ? "消息过长 / message too long" : "无法识别的消息 / unreadable message") }); return; }
      show(item);
    };
    socket.onclose = () => {
      status.textContent = t("reconnecting");
      status.className = "status";
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 10000);
    };
  }

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = input.value;
    if (!text.trim()) return;
    input.value = "";
    send(text, null);
  });

  fileInput.accept = ACCEPT;
  fileInput.addEventListener("change", () => {
    Array.from(fileInput.files || []).forEach(upload);
    fileInput.value = "";
  });

  // The switch changes the page's words and tells the bot, which answers in the new language
  // from then on (status updates, follow-ups and surveys too).
  langButton.addEventListener("click", () => {
    lang = lang === "zh" ? "en" : "zh";
    localStorage.setItem("tousu-lang", lang);
    applyLanguage();
    send(t("command"), null);
  });

  applyLanguage();
  status.textContent = t("connecting");
  connect();
})();
