"""The real WeChat Pay client against the fake WeChat Pay server, over HTTP."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import socket
import string
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from fakes.wechat_pay import FakePay, parse_xml, sign_params, to_xml

from bots.wechat.pay import (
    NotifyRejected,
    OrderPaid,
    PayConfig,
    WeChatPayClient,
    WeChatPayError,
)

KEY = "Q1w2E3r4T5y6U7i8O9p0A1s2D3f4G5h6"
T0 = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)  # 09:00 in Shanghai


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def fake(clock: Clock) -> AsyncIterator[FakePay]:
    pay = FakePay(api_key=KEY, clock=clock)
    await pay.start()
    yield pay
    await pay.stop()


def _config(fake: FakePay, **overrides: str) -> PayConfig:
    values = {
        "app_id": fake.app_id,
        "mch_id": fake.mch_id,
        "api_key": KEY,
        "api_url": fake.base_url,
        "notify_url": "https://ks.example.com/wechat/pay/notify",
        "refund_notify_url": "https://ks.example.com/wechat/pay/refund",
        **overrides,
    }
    return PayConfig(**values)


@pytest.fixture
async def client(fake: FakePay) -> AsyncIterator[WeChatPayClient]:
    pay = WeChatPayClient(_config(fake), timeout=5)
    pay.RETRY_DELAYS = (0.01, 0.01)
    yield pay
    await pay.close()


async def _native(client: WeChatPayClient, number: str = "KS20260302001", fee: int = 1990) -> dict[str, str]:
    return await client.unified_order(
        out_trade_no=number, body="Python 入门课", total_fee=fee, trade_type="NATIVE", product_id="course-1"
    )


def _paths(fake: FakePay) -> list[str]:
    return [path for path, _ in fake.calls]


# ================================================================ orders


async def test_native_order_returns_code_url(fake: FakePay, client: WeChatPayClient) -> None:
    answer = await _native(client)
    assert answer["code_url"].startswith("weixin://wxpay/bizpayurl?pr=")
    assert answer["prepay_id"].startswith("wx")
    assert "sign" not in answer
    order = fake.orders["KS20260302001"]
    assert (order.total_fee, order.trade_type, order.state) == (1990, "NATIVE", "NOTPAY")
    assert order.notify_url == "https://ks.example.com/wechat/pay/notify"
    path, sent = fake.calls[-1]
    assert path == "/pay/unifiedorder"
    assert sent["total_fee"] == "1990" and sent["spbill_create_ip"] == "127.0.0.1"
    assert len(sent["nonce_str"]) == 32 and len(sent["sign"]) == 32


async def test_same_order_again_returns_same_prepay_id(fake: FakePay, client: WeChatPayClient) -> None:
    first = await _native(client)
    second = await _native(client)
    assert second["prepay_id"] == first["prepay_id"]
    assert second["code_url"] == first["code_url"]
    assert fake.calls[0][1]["nonce_str"] != fake.calls[1][1]["nonce_str"]
    with pytest.raises(WeChatPayError) as caught:
        await _native(client, fee=990)
    assert caught.value.code == "INVALID_REQUEST"
    assert len(fake.orders) == 1


async def test_jsapi_order_needs_openid(fake: FakePay, client: WeChatPayClient) -> None:
    with pytest.raises(ValueError, match="openid"):
        await client.unified_order(out_trade_no="KSJ1", body="课", total_fee=100, trade_type="JSAPI")
    assert fake.calls == []  # refused before anything was sent
    # the fake refuses it too, should a client send it anyway
    answer = await _raw_post(fake, "/pay/unifiedorder", _signed_request(fake, trade_type="JSAPI"))
    assert (answer["result_code"], answer["err_code"]) == ("FAIL", "PARAM_ERROR")

    result = await client.unified_order(
        out_trade_no="KSJ1", body="课", total_fee=100, trade_type="JSAPI", openid="oUser1"
    )
    assert "code_url" not in result
    params = client.jsapi_params(result["prepay_id"])
    assert params["package"] == f"prepay_id={result['prepay_id']}"
    assert params["paySign"] == sign_params({k: v for k, v in params.items() if k != "paySign"}, KEY)


async def test_time_expire_is_china_time_and_body_is_cut(fake: FakePay, client: WeChatPayClient) -> None:
    await client.unified_order(
        out_trade_no="KS2",
        body="课" * 60,
        total_fee=100,
        trade_type="NATIVE",
        product_id="c2",
        time_expire=T0 + dt.timedelta(minutes=30),
    )
    sent = fake.calls[-1][1]
    assert sent["time_expire"] == "20260302093000"
    assert sent["body"] == "课" * 42
    with pytest.raises(ValueError, match="timezone"):
        await client.unified_order(
            out_trade_no="KS3",
            body="x",
            total_fee=100,
            trade_type="NATIVE",
            product_id="c",
            time_expire=dt.datetime(2026, 3, 2, 10, 0),
        )


async def test_expired_order_cannot_be_paid(fake: FakePay, client: WeChatPayClient, clock: Clock) -> None:
    await client.unified_order(
        out_trade_no="KS4",
        body="x",
        total_fee=100,
        trade_type="NATIVE",
        product_id="c",
        time_expire=T0 + dt.timedelta(minutes=5),
    )
    clock.now = T0 + dt.timedelta(minutes=6)
    with pytest.raises(ValueError, match="expired"):
        fake.pay("KS4")


@pytest.mark.parametrize("fee", [0, -1, 19.9, True])
async def test_fee_must_be_positive_integer_fen(client: WeChatPayClient, fee: object) -> None:
    with pytest.raises(ValueError):
        await client.unified_order(
            out_trade_no="KS5",
            body="x",
            total_fee=fee,  # type: ignore[arg-type]
            trade_type="NATIVE",
            product_id="c",
        )


# ================================================================ query, pay, close


async def test_query_pay_and_query_again(fake: FakePay, client: WeChatPayClient) -> None:
    assert (await client.query("KS404")).state == "NOTEXIST"
    await _native(client)
    unpaid = await client.query("KS20260302001")
    assert unpaid.state == "NOTPAY" and unpaid.transaction_id == "" and unpaid.paid_notice() is None

    notify = fake.pay("KS20260302001", "oPayer")
    paid = await client.query("KS20260302001")
    assert paid.state == "SUCCESS"
    assert paid.transaction_id == fake.orders["KS20260302001"].transaction_id != ""
    assert (paid.total_fee, paid.openid) == (1990, "oPayer")
    assert paid.paid_notice() == client.verify_notify(notify)


async def test_close_and_close_again(fake: FakePay, client: WeChatPayClient) -> None:
    await _native(client)
    await client.close_order("KS20260302001")
    assert fake.orders["KS20260302001"].state == "CLOSED"
    await client.close_order("KS20260302001")  # ORDERCLOSED is fine
    assert (await client.query("KS20260302001")).state == "CLOSED"
    with pytest.raises(ValueError):
        fake.pay("KS20260302001")
    with pytest.raises(WeChatPayError) as caught:
        await _native(client)
    assert caught.value.code == "ORDERCLOSED"


async def test_close_after_pay_is_order_paid(fake: FakePay, client: WeChatPayClient) -> None:
    await _native(client)
    fake.pay("KS20260302001")
    with pytest.raises(OrderPaid) as caught:
        await client.close_order("KS20260302001")
    assert caught.value.code == "ORDERPAID"
    assert fake.orders["KS20260302001"].state == "SUCCESS"
    with pytest.raises(WeChatPayError, match="ORDERPAID"):
        await _native(client)


async def test_close_unknown_order_is_an_error(client: WeChatPayClient) -> None:
    with pytest.raises(WeChatPayError) as caught:
        await client.close_order("KS404")
    assert caught.value.code == "ORDERNOTEXIST"


# ================================================================ notifies over HTTP


async def test_notify_delivered_to_a_handler_on_the_same_app(clock: Clock) -> None:
    """FakePay installed on an app that also serves our notify endpoint (as the MP fake shares one app)."""
    fake = FakePay(api_key=KEY, clock=clock)
    seen: list[str] = []
    clients: list[WeChatPayClient] = []

    async def notify(request: web.Request) -> web.Response:
        try:
            notice = clients[0].verify_notify(await request.read())
        except NotifyRejected as exc:
            return web.Response(text=WeChatPayClient.answer(False, exc.reason), content_type="text/xml")
        seen.append(notice.out_trade_no)
        return web.Response(text=WeChatPayClient.answer(True), content_type="text/xml")

    app = web.Application()
    fake.install(app)
    app.router.add_post("/notify", notify)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    client = WeChatPayClient(_config(fake, api_url=base, notify_url=f"{base}/notify"))
    clients.append(client)
    try:
        await _native(client)
        body = fake.pay("KS20260302001")
        assert parse_xml((await fake.deliver_notify(body)).encode())["return_code"] == "SUCCESS"
        assert seen == ["KS20260302001"]
        tampered = fake.notify_xml("KS20260302001", total_fee=1, resign=False)
        answer = parse_xml((await fake.deliver_notify(tampered)).encode())
        assert (answer["return_code"], answer["return_msg"]) == ("FAIL", "bad sign")
        assert seen == ["KS20260302001"]
        assert [status for _, _, status, _ in fake.deliveries] == [200, 200]
    finally:
        await client.close()
        await runner.cleanup()


# ================================================================ refunds


async def test_refund_twice_with_same_number_refunds_once(fake: FakePay, client: WeChatPayClient) -> None:
    await _native(client)
    fake.pay("KS20260302001")
    first = await client.refund(
        out_trade_no="KS20260302001", out_refund_no="RF1", total_fee=1990, refund_fee=1990, reason="不想学了"
    )
    second = await client.refund(
        out_trade_no="KS20260302001", out_refund_no="RF1", total_fee=1990, refund_fee=1990, reason="不想学了"
    )
    assert first == second
    assert list(fake.refunds) == ["RF1"]
    assert fake.refunds["RF1"].requests == 2
    assert fake.orders["KS20260302001"].refunded == 1990
    assert fake.orders["KS20260302001"].state == "REFUND"
    assert (await client.query("KS20260302001")).state == "REFUND"
    with pytest.raises(WeChatPayError) as caught:  # a new number would be a second refund: refused, nothing left
        await client.refund(out_trade_no="KS20260302001", out_refund_no="RF2", total_fee=1990, refund_fee=1)
    assert caught.value.code == "INVALID_REQUEST"
    assert fake.calls[-1][1]["notify_url"] == "https://ks.example.com/wechat/pay/refund"


async def test_refund_retried_after_a_lost_answer_is_not_doubled(fake: FakePay, client: WeChatPayClient) -> None:
    await _native(client)
    fake.pay("KS20260302001")
    fake.http_error_next("/secapi/pay/refund", 504, processed=True)
    refund_id = await client.refund(out_trade_no="KS20260302001", out_refund_no="RF1", total_fee=1990, refund_fee=500)
    assert _paths(fake)[-2:] == ["/secapi/pay/refund", "/secapi/pay/refund"]
    assert fake.refunds["RF1"].refund_id == refund_id
    assert fake.refunds["RF1"].requests == 2
    assert fake.orders["KS20260302001"].refunded == 500


async def test_refund_of_unpaid_order_is_refused(fake: FakePay, client: WeChatPayClient) -> None:
    await _native(client)
    with pytest.raises(WeChatPayError):
        await client.refund(out_trade_no="KS20260302001", out_refund_no="RF1", total_fee=1990, refund_fee=1990)
    assert fake.refunds == {}
    with pytest.raises(ValueError):
        await client.refund(out_trade_no="KS20260302001", out_refund_no="RF1", total_fee=1990, refund_fee=1991)


async def test_refund_notify_parses(fake: FakePay, client: WeChatPayClient) -> None:
    await _native(client)
    fake.pay("KS20260302001")
    refund_id = await client.refund(out_trade_no="KS20260302001", out_refund_no="RF1", total_fee=1990, refund_fee=990)
    assert fake.refunds["RF1"].status == "PROCESSING"
    notice = client.parse_refund_notify(fake.refund_notify_xml("RF1"))
    assert (notice.out_trade_no, notice.out_refund_no, notice.refund_id) == ("KS20260302001", "RF1", refund_id)
    assert (notice.refund_status, notice.refund_fee, notice.total_fee) == ("SUCCESS", 990, 1990)
    assert notice.transaction_id == fake.orders["KS20260302001"].transaction_id
    assert fake.refunds["RF1"].status == "SUCCESS"


def test_merchant_certificate_is_loaded_at_startup(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    client = WeChatPayClient(PayConfig(app_id="wx1", mch_id="1", api_key=KEY, cert_path=cert, key_path=key))
    assert client._ssl is not None
    with pytest.raises(FileNotFoundError):
        WeChatPayClient(PayConfig(app_id="wx1", mch_id="1", api_key=KEY, cert_path=str(tmp_path / "missing.pem")))


# ================================================================ failures and retries


async def test_502_then_success_is_retried(fake: FakePay, client: WeChatPayClient) -> None:
    await _native(client)
    fake.http_error_next("orderquery", 502)
    assert (await client.query("KS20260302001")).state == "NOTPAY"
    assert _paths(fake).count("/pay/orderquery") == 2


async def test_persistent_5xx_gives_up_after_three_attempts(fake: FakePay, client: WeChatPayClient) -> None:
    fake.http_error_next("orderquery", 503, times=5)
    with pytest.raises(WeChatPayError) as caught:
        await client.query("KS1")
    assert caught.value.code == "HTTP_503"
    assert _paths(fake).count("/pay/orderquery") == 3


async def test_4xx_is_not_retried(fake: FakePay, client: WeChatPayClient) -> None:
    fake.http_error_next("orderquery", 404, times=5)
    with pytest.raises(WeChatPayError, match="HTTP_404"):
        await client.query("KS1")
    assert _paths(fake).count("/pay/orderquery") == 1


async def test_business_error_is_reported(fake: FakePay, client: WeChatPayClient) -> None:
    fake.fail_next("orderquery", "SYSTEMERROR", err_code_des="系统错误")
    with pytest.raises(WeChatPayError) as caught:
        await client.query("KS1")
    assert (caught.value.code, caught.value.message) == ("SYSTEMERROR", "系统错误")
    assert _paths(fake).count("/pay/orderquery") == 1  # a business answer is not retried


async def test_unreachable_is_network_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = WeChatPayClient(PayConfig(app_id="wx1", mch_id="1", api_key=KEY, api_url=f"http://127.0.0.1:{port}"))
    client.RETRY_DELAYS = (0.01, 0.01)
    try:
        with pytest.raises(WeChatPayError) as caught:
            await client.query("KS1")
        assert caught.value.code == "NETWORK"
    finally:
        await client.close()


async def test_wrong_key_is_refused_by_wechat(fake: FakePay) -> None:
    client = WeChatPayClient(_config(fake, api_key="W" * 32))
    try:
        with pytest.raises(WeChatPayError) as caught:
            await client.query("KS1")
        assert (caught.value.code, caught.value.message) == ("FAIL", "签名错误")
    finally:
        await client.close()


async def test_forged_answer_is_signerror() -> None:
    """An answer signed with another key (a spoofed server) is not believed."""

    async def forged(request: web.Request) -> web.Response:
        fields = {"return_code": "SUCCESS", "result_code": "SUCCESS", "out_trade_no": "KS1", "trade_state": "SUCCESS"}
        fields["sign"] = sign_params(fields, "F" * 32)
        return web.Response(body=to_xml(fields), content_type="text/xml")

    app = web.Application()
    app.router.add_post("/pay/orderquery", forged)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    client = WeChatPayClient(
        PayConfig(app_id="wx1", mch_id="1", api_key=KEY, api_url=f"http://127.0.0.1:{runner.addresses[0][1]}")
    )
    try:
        with pytest.raises(WeChatPayError) as caught:
            await client.query("KS1")
        assert caught.value.code == "SIGNERROR"
    finally:
        await client.close()
        await runner.cleanup()


async def test_api_key_never_leaks(fake: FakePay, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = WeChatPayClient(_config(fake))
    client.RETRY_DELAYS = (0.0, 0.0)
    errors: list[BaseException] = []
    try:
        await _native(client)
        fake.pay("KS20260302001")
        await client.query("KS20260302001")
        await client.refund(out_trade_no="KS20260302001", out_refund_no="RF1", total_fee=1990, refund_fee=1)
        fake.http_error_next("orderquery", 502, times=3)
        fake.fail_next("closeorder", "SYSTEMERROR")
        for call in (client.query("KS1"), client.close_order("KS1"), client.close_order("KS20260302001")):
            try:
                await call
            except WeChatPayError as exc:
                errors.append(exc)
        for body in (fake.notify_xml("KS1", key="x" * 32), b"<xml>", fake.notify_xml("KS1", appid="wx1")):
            try:
                client.verify_notify(body)
            except NotifyRejected as exc:
                errors.append(exc)
    finally:
        await client.close()
    assert len(errors) == 6
    for error in errors:
        assert KEY not in str(error) and KEY not in repr(error)
    assert KEY not in repr(client) and KEY not in repr(client.config)
    assert caplog.records  # something was logged…
    assert KEY not in caplog.text  # …and the key never


# ================================================================ helpers


def _signed_request(fake: FakePay, **fields: str) -> bytes:
    params = {
        "appid": fake.app_id,
        "mch_id": fake.mch_id,
        "nonce_str": "".join(secrets.choice(string.ascii_letters) for _ in range(16)),
        "body": "x",
        "out_trade_no": "KSRAW1",
        "total_fee": "100",
        "spbill_create_ip": "127.0.0.1",
        "notify_url": "https://ks.example.com/n",
        **fields,
    }
    params["sign"] = sign_params(params, KEY)
    return to_xml(params)


async def _raw_post(fake: FakePay, path: str, body: bytes) -> dict[str, str]:
    async with aiohttp.ClientSession() as session, session.post(f"{fake.base_url}{path}", data=body) as response:
        return parse_xml(await response.read())


def _self_signed(tmp_path: Path) -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "1900000109")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(T0)
        .not_valid_after(T0 + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "apiclient_cert.pem", tmp_path / "apiclient_key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_path), str(key_path)
