package email

import (
	"strings"
	"testing"
)

func TestVisible(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "Hello\nworld", "Hello\nworld"},
		{"gmail one line", "Thanks!\n\nOn Thu, Nov 20, 2026 at 10:00 AM OKPay <s@okpay.example> wrote:\n> old", "Thanks!"},
		{"gmail wrapped", "Thanks!\n\nOn Thu, Nov 20, 2026 at 10:00 AM OKPay Support <\nsupport@okpay.example> wrote:\n\n> old", "Thanks!"},
		{"german", "Danke\n\nAm 20.11.2026 um 10:00 schrieb OKPay <s@okpay.example>:\n> alt", "Danke"},
		{"quoted lines only trailing", "Yes, that's me.\n> Is this you?\n> Regards", "Yes, that's me."},
		{"inline quoting keeps answers", "> Which card?\nThe Visa one.\n> Which date?\nMonday.", "The Visa one.\nMonday."},
		{"outlook original", "OK\n\n-----Original Message-----\nFrom: A\nSent: today\nTo: B\nSubject: x\n\nold", "OK"},
		{"outlook underscore", "OK\n\n________________________________\nFrom: A <a@x>\nSent: Monday\nTo: B\nSubject: x\n\nold", "OK"},
		{"outlook bold from", "OK\n\n*From:* A <a@x>\n*Sent:* Monday\n*To:* B\n*Subject:* x", "OK"},
		{"outlook zh", "好的\n\n发件人: OKPay <s@okpay.example>\n发送时间: 2026年11月20日 10:00\n收件人: 我\n主题: 冻结", "好的"},
		{"outlook zh-tw", "好\n\n寄件者: OKPay\n寄件日期: 2026年11月20日\n收件者: 我\n主旨: 卡", "好"},
		{"qq", "收到\n\n------------------ 原始邮件 ------------------\n发件人: \"OKPay\"<s@okpay.example>;\n发送时间: 2026年11月20日\n", "收到"},
		{"163", "谢谢\n\n在 2026-11-20 10:00:00，\"OKPay客服\" <support@okpay.example> 写道：\n>旧", "谢谢"},
		{"163 wrapped", "谢谢\n\n在 2026-11-20 10:00:00，\"OKPay客服\" <support@okpay.example>\n写道：\n>旧", "谢谢"},
		{"apple zh", "好的\n\n> 在 2026年11月20日，10:00，OKPay <s@okpay.example> 写道：\n> 旧", "好的"},
		{"signature dashes", "Please refund.\n\n-- \nLukas\nACME", "Please refund."},
		{"iphone", "Fine.\n\nSent from my iPhone", "Fine."},
		{"iphone zh", "可以\n\n发自我的iPhone", "可以"},
		{"huawei", "好\n\n发自我的华为手机", "好"},
		{"ordinary last line kept", "请尽快处理。\n来自上海的张先生", "请尽快处理。\n来自上海的张先生"},
		{"netease master", "可以\n\n发自网易邮箱大师", "可以"},
		{"outlook mobile", "Ok\n\nGet Outlook for iOS", "Ok"},
		{"mention of sent from in body is kept", "Sent from my iPhone, the payment failed twice, and then\nI tried again from the laptop and it worked.\nWhy?\nPlease check.\nThanks.\nAnd more.", "Sent from my iPhone, the payment failed twice, and then\nI tried again from the laptop and it worked.\nWhy?\nPlease check.\nThanks.\nAnd more."},
		{"From: in prose is kept", "From: my account I sent 10 EUR.\nIt did not arrive.", "From: my account I sent 10 EUR.\nIt did not arrive."},
		{"only quote falls back to all", "> quoted only\n> more", "> quoted only\n> more"},
		{"forward kept", "See below.\n\n---------- Forwarded message ---------\nFrom: Bank <b@bank.example>\nDate: Mon\nSubject: Transfer\nTo: me\n\nYour transfer of 100 EUR", "See below.\n\n---------- Forwarded message ---------\nFrom: Bank <b@bank.example>\nDate: Mon\nSubject: Transfer\nTo: me\n\nYour transfer of 100 EUR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Visible(tt.in); got != tt.want {
				t.Errorf("Visible =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestHTMLToText(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"script and style dropped", `<style>p{}</style><script>evil()</script><p>Hi</p>`, "Hi"},
		{"links", `<a href="https://x.example/a">here</a> and <a href="https://x.example/b">https://x.example/b</a>`, "here (https://x.example/a) and https://x.example/b"},
		{"javascript link", `<a href="javascript:alert(1)">click</a>`, "click"},
		{"mailto same text", `<a href="mailto:a@b.example">a@b.example</a>`, "a@b.example"},
		{"blocks", `<div>one</div><div>two</div><p>three</p>four`, "one\ntwo\n\nthree\n\nfour"},
		{"br", `a<br>b<br><br>c`, "a\nb\n\nc"},
		{"inline spaces", `Hello <b>big</b> <i>world</i>!`, "Hello big world!"},
		{"chinese no extra spaces", `<span>您好</span><span>世界</span>`, "您好世界"},
		{"entities", `1 &lt; 2 &amp;&amp; 3&nbsp;&gt; 2`, "1 < 2 && 3 > 2"},
		{"list", `<ul><li>a</li><li>b</li></ul>`, "- a\n- b"},
		{"blockquote", `mine<blockquote>theirs<br>more</blockquote>`, "mine\n> theirs\n> more"},
		{"pre", "<pre>a  b\n  c</pre>", "a  b\n  c"},
		{"image alt", `<img src="x.png" alt="logo">text`, "[logo] text"},
		{"hidden", `<div style="display: none">secret</div>shown`, "shown"},
		{"broken markup", `<p>unclosed <b>bold <i>both`, "unclosed bold both"},
		{"table", `<table><tr><td>Amount</td><td>12.50</td></tr><tr><td>Fee</td><td>0</td></tr></table>`, "Amount 12.50\nFee 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := HTMLToText(tt.in); got != tt.want {
				t.Errorf("HTMLToText =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
	if strings.Contains(HTMLToText("<title>T</title><body>x</body>"), "T") {
		t.Error("title leaked")
	}
}
