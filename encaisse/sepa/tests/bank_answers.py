"""pain.002 and camt.054 files written from the ISO 20022 layouts for the debits a test created."""

from collections.abc import Iterable

PAIN002_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.03">
  <CstmrPmtStsRpt>
    <GrpHdr><MsgId>{msg}</MsgId><CreDtTm>2026-03-03T07:15:00</CreDtTm></GrpHdr>
    <OrgnlGrpInfAndSts>
      <OrgnlMsgId>{original}</OrgnlMsgId><OrgnlMsgNmId>pain.008.001.02</OrgnlMsgNmId><GrpSts>{group}</GrpSts>
      {group_reason}
    </OrgnlGrpInfAndSts>
"""
PAIN002_BATCH = """    <OrgnlPmtInfAndSts>
      <OrgnlPmtInfId>{pmtinf}</OrgnlPmtInfId><PmtInfSts>{status}</PmtInfSts>{reason}
{transactions}    </OrgnlPmtInfAndSts>
"""
PAIN002_TX = """      <TxInfAndSts>
        <OrgnlEndToEndId>{e2e}</OrgnlEndToEndId><TxSts>RJCT</TxSts>
        <StsRsnInf><Rsn><Cd>{code}</Cd></Rsn></StsRsnInf>
        <OrgnlTxRef><Amt><InstdAmt Ccy="EUR">{amount}</InstdAmt></Amt></OrgnlTxRef>
      </TxInfAndSts>
"""


def pain002(original: str, pmtinf: str, rejects: Iterable[tuple[str, str, str]] = (), *, msg: str = "STS-1",
            batch_reason: str = "", group_reason: str = "") -> bytes:
    """Rejects (end-to-end id, code, amount) of one batch; or the whole batch / file with a reason."""
    transactions = "".join(PAIN002_TX.format(e2e=e, code=c, amount=a) for e, c, a in rejects)
    reason = f"<StsRsnInf><Rsn><Cd>{batch_reason}</Cd></Rsn></StsRsnInf>" if batch_reason else ""
    head = PAIN002_HEAD.format(
        msg=msg, original=original, group="RJCT" if group_reason else "PART",
        group_reason=f"<StsRsnInf><Rsn><Cd>{group_reason}</Cd></Rsn></StsRsnInf>" if group_reason else "")
    batch = "" if group_reason else PAIN002_BATCH.format(
        pmtinf=pmtinf, status="RJCT" if batch_reason else "PART", reason=reason, transactions=transactions)
    return (head + batch + "  </CstmrPmtStsRpt>\n</Document>\n").encode()


CAMT054_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.02">
  <BkToCstmrDbtCdtNtfctn>
    <GrpHdr><MsgId>{msg}</MsgId><CreDtTm>2026-03-20T06:00:00</CreDtTm></GrpHdr>
    <Ntfctn>
      <Id>{msg}</Id><CreDtTm>2026-03-20T06:00:00</CreDtTm>
      <Acct><Id><IBAN>FR7630004000031234567890143</IBAN></Id></Acct>
"""
CAMT054_ENTRY = """      <Ntry>
        <Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>{side}</CdtDbtInd>{reversal}<Sts>BOOK</Sts>
        <BookgDt><Dt>{booked}</Dt></BookgDt>
        <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>IDDT</Cd><SubFmlyCd>UPDD</SubFmlyCd></Fmly></Domn></BkTxCd>{fee}
        <NtryDtls><TxDtls>
          <Refs><EndToEndId>{e2e}</EndToEndId></Refs>
          <AmtDtls><TxAmt><Amt Ccy="EUR">{amount}</Amt></TxAmt></AmtDtls>{why}
        </TxDtls></NtryDtls>
      </Ntry>
"""


def camt054(entries: Iterable[tuple[str, str, str, str]], *, msg: str = "NTF-1", booked: str = "2026-03-19"
            ) -> bytes:
    """Entries (end-to-end id, amount, reason code or "CRDT" for a credit, fee or "")."""
    body = ""
    for e2e, amount, code, fee in entries:
        credit = code == "CRDT"
        body += CAMT054_ENTRY.format(
            amount=amount, side="CRDT" if credit else "DBIT", reversal="" if credit else "<RvslInd>true</RvslInd>",
            booked=booked, e2e=e2e,
            fee=f'<Chrgs><Amt Ccy="EUR">{fee}</Amt></Chrgs>' if fee else "",
            why="" if credit else f"<RtrInf><Rsn><Cd>{code}</Cd></Rsn></RtrInf>")
    return (CAMT054_HEAD.format(msg=msg) + body + "    </Ntfctn>\n  </BkToCstmrDbtCdtNtfctn>\n</Document>\n").encode()
