def test_home_lists_demo_programs(client, demo):
    response = client.get("/")
    assert response.status_code == 200
    assert b"IV Ketamine with EMDR" in response.data
