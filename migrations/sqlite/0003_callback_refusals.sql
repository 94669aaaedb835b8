-- Callback outcomes are read through one mapping (`domain::states::CallbackOutcome`) that refuses
-- text it does not know. A refused refund notify used to keep the parser's whole error message,
-- which can carry what the sender sent; it now keeps one of the fixed reasons a refused payment
-- notify keeps (the message goes to the log). Older rows get the reason their message stands for.
UPDATE wechat_callbacks SET outcome = 'refused: bad signature'
    WHERE kind = 'refund' AND outcome = 'refused: notify signature is wrong or missing';
UPDATE wechat_callbacks SET outcome = 'refused: another merchant'
    WHERE kind = 'refund' AND (outcome LIKE 'refused: notify is for another appid (%'
        OR outcome LIKE 'refused: notify is for another mch_id (%');
UPDATE wechat_callbacks SET outcome = 'refused: malformed XML'
    WHERE kind = 'refund' AND outcome LIKE 'refused: notify body: %';
UPDATE wechat_callbacks SET outcome = 'refused: invalid notify'
    WHERE kind = 'refund' AND outcome LIKE 'refused: %'
    AND outcome NOT IN ('refused: bad signature', 'refused: another merchant', 'refused: malformed XML',
        'refused: refund amount or order mismatch');
