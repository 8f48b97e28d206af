"""A fixed invoice and its parties, for the document tests (the figures of the SPEC §6 worked example)."""

INVOICE = {
    "id": "inv_sample", "number": "KS-2027-000042", "tenant_id": "tenant-a", "period": "2027-01", "currency": "CNY",
    "issued_at": "2027-02-01T01:00:00Z",
    "lines": [
        {"kind": "machine_month", "contract_id": "c-1", "item_id": "i-1",
         "description": "60 × 8×RTX-4090 machines, 2027-01", "quantity": "60", "unit": "machine-month",
         "unit_price": "5000.00", "amount": "300000.00", "tax_rate": "0.06", "tax": "18000.00",
         "period_start": "2026-12-31T16:00:00Z", "period_end": "2027-01-31T16:00:00Z"},
        {"kind": "penalty", "contract_id": "c-1", "item_id": None,
         "description": "Early termination: 20% of remaining closed value 7,200,000.00", "quantity": "1",
         "unit": "penalty", "unit_price": "1440000.00", "amount": "1440000.00", "tax_rate": "0.06",
         "tax": "86400.00", "period_start": "2026-12-31T16:00:00Z", "period_end": "2027-01-31T16:00:00Z"},
    ],
    "subtotal": "1740000.00", "tax": "104400.00", "total": "1844400.00",
    "due_at": "2027-03-03T23:59:59+08:00", "amount_credited": "0.00", "amount_paid": "844400.00",
    "amount_due": "1000000.00", "status": "partially_paid",
    "fapiao": [{"number": "24312000000012345678", "issued_on": "2027-02-05", "kind": "special",
                "recorded_at": "2027-02-05T02:00:00Z"}],
}  # fmt: skip
PARTIES = {
    "issuer": {"legal_name": "北京卡时智算科技有限公司", "tax_id": "91110108MA01ABCD3X",
               "address": "北京市海淀区中关村大街 1 号", "phone": "+86 10 8888 0000", "email": "billing@kashi.example",
               "bank_name": "招商银行北京分行", "bank_account": "1109 0123 4567 890", "logo_png_base64": None},
    "tenant": {"id": "tenant-a", "name": "深圳算力", "legal_name": "深圳算力有限公司", "tax_id": "91440300MA5FXXXX1Y",
               "address": "深圳市南山区科技园", "billing_email": "ap@example.cn"},
    "payment_terms_days": 30,
}  # fmt: skip
